package compiler

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hac-project/hac/model"
)

// Severity says whether a diagnostic makes the configuration invalid.
type Severity int

// The severities, from the worst.
const (
	Error   Severity = iota // the configuration is refused
	Warning                 // the configuration works, but something deserves attention
)

// String returns "error" or "warning".
func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// MarshalText returns the severity's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Diagnostic is one problem found in a configuration. Its message never
// holds a secret.
type Diagnostic struct {
	Severity Severity
	Path     string      // CUE path of the offending value, e.g. clusters."ncp-lb".vrrp.VI_1.virtual_router_id
	Msg      string      // what is wrong and how to fix it
	Pos      model.Pos   // where; zero when unknown
	Related  []model.Pos // the other places of a mismatch (e.g. the first declaration of a duplicate)
}

// Diagnostics is a list of diagnostics, sorted by [Diagnostics.Sort].
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	return slices.ContainsFunc(ds, func(d Diagnostic) bool { return d.Severity == Error })
}

// Sort orders the diagnostics by file, line and column, then path and
// message, and drops exact duplicates.
func (ds *Diagnostics) Sort() {
	slices.SortStableFunc(*ds, func(a, b Diagnostic) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Msg, b.Msg),
		)
	})
	*ds = slices.CompactFunc(*ds, func(a, b Diagnostic) bool {
		return a.Severity == b.Severity && a.Path == b.Path && a.Msg == b.Msg && a.Pos == b.Pos
	})
}

// displayFile returns a file name as cue prints it: "./x.cue" for a
// relative path inside the working directory; a name such as <stdout>
// (a source that is no file) as it is.
func displayFile(name string) string {
	if name == "" || filepath.IsAbs(name) || strings.HasPrefix(name, "..") || strings.HasPrefix(name, "<") {
		return name
	}
	return "./" + filepath.ToSlash(name)
}

// header returns "path: message", with "warning: " before a warning.
func (d Diagnostic) header() string {
	s := d.Msg
	if d.Path != "" {
		s = d.Path + ": " + s
	}
	if d.Severity == Warning {
		s = "warning: " + s
	}
	return s
}

// WriteText writes the diagnostics like cue vet: "path: message", then one
// indented line per position.
func (ds Diagnostics) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.header())
		b.WriteString("\n")
		for _, p := range append([]model.Pos{d.Pos}, d.Related...) {
			if p.File != "" {
				fmt.Fprintf(&b, "    %s:%d:%d\n", displayFile(p.File), p.Line, p.Col)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// jsonPos is a position in the JSON output.
type jsonPos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

// jsonDiag is a diagnostic in the JSON output.
type jsonDiag struct {
	Severity Severity `json:"severity"`
	Path     string   `json:"path,omitempty"`
	Message  string   `json:"message"`
	jsonPos
	Related []jsonPos `json:"related,omitempty"`
}

func toJSONPos(p model.Pos) jsonPos { return jsonPos{File: p.File, Line: p.Line, Col: p.Col} }

// WriteJSON writes the diagnostics as a JSON array of objects with
// severity, path, message, file, line, col and related positions.
func (ds Diagnostics) WriteJSON(w io.Writer) error {
	out := make([]jsonDiag, 0, len(ds))
	for _, d := range ds {
		j := jsonDiag{Severity: d.Severity, Path: d.Path, Message: d.Msg, jsonPos: toJSONPos(d.Pos)}
		for _, r := range d.Related {
			j.Related = append(j.Related, toJSONPos(r))
		}
		out = append(out, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// githubEscape escapes a workflow command's message or property value.
var githubEscape = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")

// WriteGitHub writes one GitHub Actions workflow command per diagnostic
// ("::error file=F,line=L,col=C::path: message", or ::warning), followed
// by the diagnostic in text form, so the log stays readable.
func (ds Diagnostics) WriteGitHub(w io.Writer) error {
	var b strings.Builder
	for _, d := range ds {
		msg := d.Msg
		if d.Path != "" {
			msg = d.Path + ": " + msg
		}
		msg = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(msg)
		fmt.Fprintf(&b, "::%s", d.Severity)
		if d.Pos.File != "" {
			fmt.Fprintf(&b, " file=%s,line=%d,col=%d", githubEscape.Replace(filepath.ToSlash(d.Pos.File)), d.Pos.Line, d.Pos.Col)
		}
		fmt.Fprintf(&b, "::%s\n", msg)
		if err := (Diagnostics{d}).WriteText(&b); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
