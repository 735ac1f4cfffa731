// The captured QEMU 7.2 output in tests/data/qemu-7.2/ (see
// tests/data/capture.py), for the unit tests; meson sets LIBQMP_TEST_DATA.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace qemu_data {

inline std::string path(const std::string &name) {
    const char *dir = std::getenv("LIBQMP_TEST_DATA");
    if (!dir) fail_msg("LIBQMP_TEST_DATA is not set");
    return std::string(dir) + "/qemu-7.2/" + name;
}

// The whole file, exactly as captured (CR LF included).
inline std::string read(const std::string &name) {
    std::string p = path(name);
    FILE *f = std::fopen(p.c_str(), "rb");
    if (!f) fail_msg("cannot open %s", p.c_str());
    std::string s;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    std::fclose(f);
    return s;
}

}  // namespace qemu_data
