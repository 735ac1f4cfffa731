// Package libqmp is the cgo wrapper that SWIG generates from bindings/qmp.i
// (libqmp.go and qmp_wrap.c, next to this file once generated): the qmpb_
// shim, not for direct use.  Package qmp is the API.
//
// The C flags come from pkg-config; in a build tree, point PKG_CONFIG_PATH
// at <builddir>/meson-uninstalled or set CGO_CFLAGS/CGO_LDFLAGS.
package libqmp

// #cgo pkg-config: libqmp
// #cgo LDFLAGS: -lpthread
import "C"

// Outside meson (which generates into its build directory), `go generate`
// in the source tree writes the wrapper here.
//go:generate swig -go -cgo -intgosize 64 -module libqmp -I../../../../include -o qmp_wrap.c -outdir . ../../../qmp.i
