package compiler

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/model"
)

func TestWriteSARIF(t *testing.T) {
	ds := Diagnostics{
		{Severity: Error, Path: `clusters.a.vrrp.VI_1.virtual_router_id`, Msg: "virtual_router_id 51 is also used by cluster b",
			Pos: model.Pos{File: "a/a.cue", Line: 7, Col: 3}, Related: []model.Pos{{File: "b.yaml", Line: 2, Col: 5}}},
		{Severity: Warning, Msg: "PASS is cleartext"},
	}
	var b strings.Builder
	if err := ds.WriteSARIF(&b, "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	// Read it back generically: the field names are the SARIF spec's.
	var got map[string]any
	if err := json.Unmarshal([]byte(b.String()), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"version": "2.1.0",
		"runs": []any{map[string]any{
			"tool": map[string]any{"driver": map[string]any{
				"name": "hac", "version": "v1.2.3", "informationUri": "https://github.com/hac-project/hac",
				"rules": []any{
					map[string]any{"id": "hac/invalid", "shortDescription": map[string]any{"text": "The cluster description is invalid"}},
					map[string]any{"id": "hac/warning", "shortDescription": map[string]any{"text": "The cluster description works but deserves attention"}},
				},
			}},
			"results": []any{
				map[string]any{
					"ruleId": "hac/invalid", "level": "error",
					"message": map[string]any{"text": "clusters.a.vrrp.VI_1.virtual_router_id: virtual_router_id 51 is also used by cluster b"},
					"locations": []any{map[string]any{"physicalLocation": map[string]any{
						"artifactLocation": map[string]any{"uri": "a/a.cue"},
						"region":           map[string]any{"startLine": 7.0, "startColumn": 3.0},
					}}},
					"relatedLocations": []any{map[string]any{"id": 1.0, "physicalLocation": map[string]any{
						"artifactLocation": map[string]any{"uri": "b.yaml"},
						"region":           map[string]any{"startLine": 2.0, "startColumn": 5.0},
					}}},
				},
				map[string]any{"ruleId": "hac/warning", "level": "warning", "message": map[string]any{"text": "PASS is cleartext"}},
			},
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("WriteSARIF (-want +got):\n%s", diff)
	}
}
