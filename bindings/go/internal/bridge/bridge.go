// Package bridge lets the packages of this module that are not package qmp
// (qmptest) use what package qmp keeps unexported, without adding it to
// qmp's API.  Package qmp fills the variables in its init.
package bridge

import "libqmp.org/qmp/internal/libqmp"

// Take reads a shim result and frees it, as package qmp does: nil or a
// *qmp.Error (*qmp.CommandError for the server's {"error": ...}).
var Take func(r libqmp.Qmpb_result) (text string, err error)

// WithSchema runs fn with the C holder of a *qmp.Schema, which stays open
// while fn runs; a closed schema is a *qmp.Error with CodeInvalid.
var WithSchema func(schema any, fn func(h libqmp.Qmpb_schema) error) error
