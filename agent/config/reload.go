package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// reloadable are the agent-wide fields a running agent's reload applies:
// the names its status report shows, and the instances (each one kept,
// changed in place or restarted with a handoff). Every other field of
// [Config] only a restart applies: [RestartOnly] and [RestartKey] both
// take their fields from [restartOnly].
var reloadable = []string{"Cluster", "Node", "Instances"}

// setting is one agent-wide field that only a restart applies: its JSON
// name, its value as agent.json encodes it, and whether it is unset (the
// field's zero value).
type setting struct {
	name  string
	value json.RawMessage
	unset bool
}

// restartOnly returns the fields of c that only a restart of the agent
// applies (every field but the reloadable ones), in field order. Two
// values of a field are the same setting when their encodings are equal.
func restartOnly(c *Config) []setting {
	v := reflect.ValueOf(*c)
	var out []setting
	for i := range v.NumField() {
		field := v.Type().Field(i)
		if slices.Contains(reloadable, field.Name) {
			continue
		}
		b, err := json.Marshal(v.Field(i).Interface())
		if err != nil {
			// Every field type of Config marshals: no channel, function
			// or cycle, and its marshalers never fail.
			panic(fmt.Sprintf("config: encode %s: %v", field.Name, err))
		}
		name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
		out = append(out, setting{name: name, value: b, unset: v.Field(i).IsZero()})
	}
	return out
}

// RestartOnly says which agent-wide fields changed from old to cur that
// only a restart of the agent applies (the status socket the reload
// request itself came on, the metrics listener, the sync groups: any field
// but the names and the instances), as [Problem]s; nil: a reload (SIGHUP,
// hac-agent reload) applies cur. The agent refuses such a reload; hac
// apply restarts the agent instead of reloading it, by [RestartKey].
func RestartOnly(old, cur *Config) error {
	var errs []error
	was, now := restartOnly(old), restartOnly(cur)
	for i, s := range now {
		if slices.Equal(was[i].value, s.value) {
			continue
		}
		errs = append(errs, &Problem{Path: s.name, Message: fmt.Sprintf("changed from %s to %s, which only a restart applies: restart the agent (systemctl restart hac-agent)", was[i].value, s.value)})
	}
	return errors.Join(errs...)
}

// RestartKey returns a key of the agent-wide settings of c that only a
// restart of the agent applies (those [RestartOnly] compares): two
// configurations have the same key exactly when RestartOnly finds no
// change between them. hac build writes it into the node's manifest, and
// hac apply compares the node's recorded key with the new one to choose
// between a reload and a restart without reading agent.json.
//
// The key is the hex SHA-256 of those settings as a JSON object, fields
// at their zero value left out (so a hac that adds an agent-wide field
// keeps the keys of configurations that do not set it). It never depends
// on the instances, so never on an auth pass: it may go into
// world-readable files, such as the manifest.
func RestartKey(c *Config) string {
	set := map[string]json.RawMessage{}
	for _, s := range restartOnly(c) {
		if !s.unset {
			set[s.name] = s.value
		}
	}
	b, err := json.Marshal(set) // sorted keys: the same bytes for the same settings
	if err != nil {
		panic(fmt.Sprintf("config: encode the restart-only settings: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
