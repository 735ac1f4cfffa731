#!/usr/bin/python3
"""Passing fds: add-fd + query-fdsets, getfd/closefd; the caller keeps them."""

import os
import tempfile

import libqmp
from qemu_fixture import QemuTestCase, main


class TestFds(QemuTestCase):
    def fdsets(self, c):
        return {s["fdset-id"]: s for s in c.execute("query-fdsets")}

    def test_add_fd_with_a_file_object(self):
        c = self.connect()
        with tempfile.TemporaryFile() as f:
            r = c.add_fd(f, opaque="disk0")
            self.assertIn("fdset-id", r)
            s = self.fdsets(c)[r["fdset-id"]]
            self.assertEqual([(d["fd"], d.get("opaque")) for d in s["fds"]], [(r["fd"], "disk0")])
            f.write(b"still mine")  # the caller keeps its file
            f.seek(0)
            self.assertEqual(f.read(), b"still mine")
            r2 = c.add_fd(f.fileno(), fdset_id=r["fdset-id"])
            self.assertEqual(r2["fdset-id"], r["fdset-id"])
            self.assertEqual(len(self.fdsets(c)[r["fdset-id"]]["fds"]), 2)

    def test_execute_add_fd_with_fds(self):
        c = self.connect()
        rfd, wfd = os.pipe()
        try:
            r = c.execute("add-fd", fdset_id=7, opaque="pipe", fds=[rfd])
            self.assertEqual(r["fdset-id"], 7)
            self.assertEqual(self.fdsets(c)[7]["fds"][0]["opaque"], "pipe")
            c.execute("remove-fd", fdset_id=7)
            self.assertNotIn(7, self.fdsets(c))
            os.fstat(rfd)  # still open here
        finally:
            os.close(rfd)
            os.close(wfd)

    def test_getfd_closefd(self):
        c = self.connect()
        rfd, wfd = os.pipe()
        try:
            c.getfd(wfd, "mypipe")
            c.closefd("mypipe")
            with self.assertRaises(libqmp.CommandError):
                c.closefd("mypipe")
            os.write(wfd, b"x")  # ours is still open
        finally:
            os.close(rfd)
            os.close(wfd)

    def test_without_fd_add_fd_fails(self):
        c = self.connect()
        with self.assertRaises(libqmp.CommandError):
            c.execute("add-fd", fdset_id=3)

    def test_too_many_fds(self):
        c = self.connect()
        with self.assertRaises(libqmp.InvalidArgument):
            c.execute("add-fd", fds=[0] * (libqmp._c.QMP_MAX_FDS + 1))


if __name__ == "__main__":
    main()
