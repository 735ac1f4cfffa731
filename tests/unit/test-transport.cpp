// The transport's Unix connect retry (one policy for the blocking and the
// non-blocking connect) and OwnedFds, the owner of a command's fd copies.
#include <cstdarg>
#include <cstddef>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

extern "C" {
#include <cmocka.h>
}

#include "transport/fds.h"
#include "transport/socket.h"

using qmp::Clock;
using qmp::Deadline;
using qmp::Error;
using qmp::transport::OwnedFds;

namespace {

int open_fd_count() {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (struct dirent *e = readdir(d))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1;  // the directory's own
}

bool is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

// A socket path in a fresh directory; nothing listens there yet.
struct TempSocket {
    char dir[32] = "/tmp/libqmp-transport-XXXXXX";
    std::string path;
    int listener = -1;

    TempSocket() {
        assert_non_null(mkdtemp(dir));
        path = std::string(dir) + "/qmp.sock";
    }
    ~TempSocket() {
        if (listener >= 0) close(listener);
        unlink(path.c_str());
        rmdir(dir);
    }
    void listen_now() {
        listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(listener >= 0);
        struct sockaddr_un a;
        std::memset(&a, 0, sizeof a);
        a.sun_family = AF_UNIX;
        std::strcpy(a.sun_path, path.c_str());
        assert_int_equal(bind(listener, reinterpret_cast<struct sockaddr *>(&a), sizeof a), 0);
        assert_int_equal(listen(listener, 4), 0);
    }
};

long long ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

void test_attempt_on_a_missing_socket_says_when_to_retry(void **) {
    TempSocket s;
    int fd = 123;
    Deadline retry_at = Deadline::never();
    auto before = Clock::now();
    Error e = qmp::transport::connect_unix_attempt(s.path.c_str(), Deadline::in_ms(5000), &fd, &retry_at);
    auto after = Clock::now();
    assert_int_equal(e.code, QMP_OK);
    assert_int_equal(fd, -1);
    assert_false(retry_at.infinite());
    // The one retry interval, 20 ms, counted from the attempt.
    assert_true(ms_between(before, retry_at.when()) >= 20);
    assert_true(ms_between(after, retry_at.when()) <= 20);
}

void test_attempt_retry_never_passes_the_deadline(void **) {
    TempSocket s;
    int fd = -1;
    Deadline retry_at = Deadline::never();
    Deadline deadline = Deadline::in_ms(5);
    Error e = qmp::transport::connect_unix_attempt(s.path.c_str(), deadline, &fd, &retry_at);
    assert_int_equal(e.code, QMP_OK);
    assert_true(retry_at.when() <= deadline.when());
}

// What connect_unix_attempt() says about path once its deadline has passed.
Error timeout_of_attempt(const std::string &path) {
    int fd = -1;
    Deadline retry_at = Deadline::never();
    Error e = qmp::transport::connect_unix_attempt(path.c_str(), Deadline::in_ms(0), &fd, &retry_at);
    assert_int_equal(fd, -1);
    return e;
}

void test_attempt_at_the_deadline_times_out(void **) {
    TempSocket s;
    Error e = timeout_of_attempt(s.path);
    assert_int_equal(e.code, QMP_ETIMEDOUT);
    assert_non_null(std::strstr(e.message.c_str(), s.path.c_str()));
}

void test_attempt_connects_to_a_listener(void **) {
    TempSocket s;
    s.listen_now();
    int fd = -1;
    Deadline retry_at = Deadline::never();
    Error e = qmp::transport::connect_unix_attempt(s.path.c_str(), Deadline::in_ms(5000), &fd, &retry_at);
    assert_int_equal(e.code, QMP_OK);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    close(fd);
}

void test_attempt_with_a_bad_path_is_final(void **) {
    std::string long_path(200, 'x');
    int fd = -1;
    Deadline retry_at = Deadline::never();
    Error e = qmp::transport::connect_unix_attempt(long_path.c_str(), Deadline::in_ms(5000), &fd, &retry_at);
    assert_int_equal(e.code, QMP_EINVAL);
    assert_int_equal(fd, -1);
    assert_true(retry_at.infinite());
}

void test_blocking_connect_waits_for_the_listener(void **) {
    TempSocket s;
    auto start = Clock::now();
    std::thread late([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        s.listen_now();
    });
    int fd = -1;
    Error e = qmp::transport::connect_unix(s.path.c_str(), Deadline::in_ms(10000), nullptr, &fd);
    late.join();
    assert_int_equal(e.code, QMP_OK);
    assert_true(fd >= 0);
    assert_true(ms_between(start, Clock::now()) >= 95);
    close(fd);
}

void test_blocking_connect_times_out_with_the_same_message(void **) {
    TempSocket s;
    auto start = Clock::now();
    int fd = -1;
    Error e = qmp::transport::connect_unix(s.path.c_str(), Deadline::in_ms(60), nullptr, &fd);
    assert_true(ms_between(start, Clock::now()) >= 55);
    Error same = timeout_of_attempt(s.path);
    assert_int_equal(e.code, same.code);
    assert_string_equal(e.message.c_str(), same.message.c_str());
}

void test_owned_fds_copy_and_close(void **) {
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    int base = open_fd_count();
    {
        OwnedFds f;
        assert_int_equal(f.copy(p, 2).code, QMP_OK);
        assert_int_equal(f.size(), 2);
        assert_int_equal(open_fd_count(), base + 2);
        for (size_t i = 0; i < 2; i++) {
            assert_true(f.data()[i] != p[0] && f.data()[i] != p[1]);
            assert_true(fcntl(f.data()[i], F_GETFD) & FD_CLOEXEC);
        }
        OwnedFds g = std::move(f);  // the copies move, nothing is closed or duplicated
        assert_true(f.empty());
        assert_int_equal(g.size(), 2);
        assert_int_equal(open_fd_count(), base + 2);
        g.reset();
        assert_true(g.empty());
        assert_int_equal(open_fd_count(), base);
        assert_int_equal(g.copy(p, 1).code, QMP_OK);
        assert_int_equal(open_fd_count(), base + 1);
    }  // and going out of scope closes what is held
    assert_int_equal(open_fd_count(), base);
    assert_true(is_open(p[0]));
    assert_true(is_open(p[1]));
    close(p[0]);
    close(p[1]);
}

void test_owned_fds_failed_copy_keeps_none(void **) {
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    close(p[1]);
    const int closed = 1 << 20;  // far above any fd this process has open (a lower one would be reused by the copies)
    assert_false(is_open(closed));
    int fds[3] = {p[0], p[0], closed};
    int base = open_fd_count();
    OwnedFds f;
    Error e = f.copy(fds, 3);
    assert_int_equal(e.code, QMP_EINVAL);
    char want[64];
    std::snprintf(want, sizeof want, "fd %d is not open", closed);
    assert_string_equal(e.message.c_str(), want);
    assert_true(f.empty());
    assert_int_equal(open_fd_count(), base);  // the two copies made before the failure are closed
    assert_true(is_open(p[0]));
    close(p[0]);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attempt_on_a_missing_socket_says_when_to_retry),
        cmocka_unit_test(test_attempt_retry_never_passes_the_deadline),
        cmocka_unit_test(test_attempt_at_the_deadline_times_out),
        cmocka_unit_test(test_attempt_connects_to_a_listener),
        cmocka_unit_test(test_attempt_with_a_bad_path_is_final),
        cmocka_unit_test(test_blocking_connect_waits_for_the_listener),
        cmocka_unit_test(test_blocking_connect_times_out_with_the_same_message),
        cmocka_unit_test(test_owned_fds_copy_and_close),
        cmocka_unit_test(test_owned_fds_failed_copy_keeps_none),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
