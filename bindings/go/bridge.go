package qmp

import (
	"libqmp.org/qmp/internal/bridge"
	"libqmp.org/qmp/internal/libqmp"
)

// What package qmptest needs from this package (see internal/bridge).
func init() {
	bridge.Take = func(r libqmp.Qmpb_result) (string, error) { return take(r, "") }
	bridge.WithSchema = func(schema any, fn func(h libqmp.Qmpb_schema) error) error {
		s := schema.(*Schema)
		s.mu.RLock()
		defer s.mu.RUnlock()
		if s.h == nil {
			return &Error{Code: CodeInvalid, Message: "the schema is closed"}
		}
		return fn(s.h)
	}
}
