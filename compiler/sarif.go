package compiler

import (
	"encoding/json"
	"io"
	"path/filepath"

	"github.com/hac-project/hac/model"
)

// SARIF 2.1.0 (OASIS), the subset code-scanning services read: one run,
// one result per diagnostic with its physical location.
const (
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	sarifVersion = "2.1.0"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string       `json:"id"`
	ShortDescription sarifMessage `json:"shortDescription"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID           string          `json:"ruleId"`
	Level            string          `json:"level"`
	Message          sarifMessage    `json:"message"`
	Locations        []sarifLocation `json:"locations,omitempty"`
	RelatedLocations []sarifLocation `json:"relatedLocations,omitempty"`
}

type sarifLocation struct {
	ID               *int                  `json:"id,omitempty"`
	PhysicalLocation sarifPhysicalLocation `json:"physicalLocation"`
}

type sarifPhysicalLocation struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           sarifRegion   `json:"region"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

// The SARIF rule ids: hac's diagnostics are not catalogued, so they are
// grouped by severity.
const (
	sarifRuleError   = "hac/invalid"
	sarifRuleWarning = "hac/warning"
)

func sarifLocationOf(p model.Pos) (sarifLocation, bool) {
	if p.File == "" {
		return sarifLocation{}, false
	}
	return sarifLocation{PhysicalLocation: sarifPhysicalLocation{
		ArtifactLocation: sarifArtifact{URI: filepath.ToSlash(p.File)},
		Region:           sarifRegion{StartLine: max(p.Line, 1), StartColumn: p.Col},
	}}, true
}

// WriteSARIF writes the diagnostics as a SARIF 2.1.0 log (for GitHub code
// scanning and other SARIF viewers): one result per diagnostic, level
// "error" or "warning", the message prefixed by the CUE path, the position
// as its location and the other places as related locations. toolVersion
// is hac's version.
func (ds Diagnostics) WriteSARIF(w io.Writer, toolVersion string) error {
	run := sarifRun{
		Tool: sarifTool{Driver: sarifDriver{
			Name: "hac", Version: toolVersion,
			InformationURI: "https://github.com/hac-project/hac",
			Rules: []sarifRule{
				{ID: sarifRuleError, ShortDescription: sarifMessage{Text: "The cluster description is invalid"}},
				{ID: sarifRuleWarning, ShortDescription: sarifMessage{Text: "The cluster description works but deserves attention"}},
			},
		}},
		Results: []sarifResult{},
	}
	for _, d := range ds {
		r := sarifResult{RuleID: sarifRuleError, Level: "error", Message: sarifMessage{Text: d.Msg}}
		if d.Severity == Warning {
			r.RuleID, r.Level = sarifRuleWarning, "warning"
		}
		if d.Path != "" {
			r.Message.Text = d.Path + ": " + d.Msg
		}
		if loc, ok := sarifLocationOf(d.Pos); ok {
			r.Locations = []sarifLocation{loc}
		}
		for i, p := range d.Related {
			if loc, ok := sarifLocationOf(p); ok {
				id := i + 1
				loc.ID = &id
				r.RelatedLocations = append(r.RelatedLocations, loc)
			}
		}
		run.Results = append(run.Results, r)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{run}})
}
