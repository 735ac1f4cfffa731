#!/bin/sh
# The exe_wrapper of `meson test --setup=valgrind`: runs a test program
# under valgrind, failing on any memory error or leak.  A test that is a
# script (a driver that starts QEMU, say) runs as it is: it sees
# LIBQMP_TEST_VALGRIND=1 and puts the programs it tests under valgrind itself,
# so valgrind judges our code, not the shell's.
#
# somalloc=nouserintercepts: a test program that defines its own operator
# new or malloc (to make an allocation fail) keeps them; valgrind still
# replaces the C library's, which they call.
prog=$1
if [ "$(head -c 4 "$prog" 2>/dev/null | od -An -c | tr -d ' ')" != '177ELF' ]; then
    exec "$@"
fi
exec valgrind --quiet --error-exitcode=99 --leak-check=full \
    --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
    --track-fds=yes --child-silent-after-fork=yes --soname-synonyms=somalloc=nouserintercepts \
    --suppressions="$(dirname "$0")/valgrind.supp" "$@"
