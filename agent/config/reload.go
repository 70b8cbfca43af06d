package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// reloadable are the agent-wide fields a running agent's reload applies:
// the names its status report shows, and the instances (each one kept,
// changed in place or restarted with a handoff).
var reloadable = []string{"Cluster", "Node", "Instances"}

// RestartOnly says which agent-wide fields changed from old to cur that
// only a restart of the agent applies (the status socket the reload
// request itself came on, the metrics listener, the sync groups: any field
// but the names and the instances), as [Problem]s; nil: a reload (SIGHUP,
// hac-agent reload) applies cur. The agent refuses such a reload; hac
// apply restarts the agent instead of reloading it.
func RestartOnly(old, cur *Config) error {
	var errs []error
	ov, nv := reflect.ValueOf(*old), reflect.ValueOf(*cur)
	for f := range ov.NumField() {
		field := ov.Type().Field(f)
		if slices.Contains(reloadable, field.Name) || reflect.DeepEqual(ov.Field(f).Interface(), nv.Field(f).Interface()) {
			continue
		}
		name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
		format := "changed from %v to %v, which only a restart applies: restart the agent (systemctl restart hac-agent)"
		if field.Type.Kind() == reflect.String {
			format = "changed from %q to %q, which only a restart applies: restart the agent (systemctl restart hac-agent)"
		}
		errs = append(errs, &Problem{Path: name, Message: fmt.Sprintf(format, ov.Field(f).Interface(), nv.Field(f).Interface())})
	}
	return errors.Join(errs...)
}
