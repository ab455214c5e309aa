package sdk_test

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/staticlet/staticlet/sdk"
	"github.com/staticlet/staticlet/sdk/sdktest"
	"github.com/staticlet/staticlet/sdk/template"
	"github.com/staticlet/staticlet/sdk/wasmmeta"
)

type settings struct {
	Deny bool `json:"deny"`
}

var p = sdk.Plugin[settings]{
	Name: "t",
	Validate: func(req *sdk.Request, s settings) (sdk.Validation, error) {
		var v sdk.Validation
		sdk.Logf(sdk.LevelInfo, "file %s", req.File)
		if s.Deny {
			v.Deny("No", "spec", "denied")
		}
		return v, nil
	},
	Mutate: func(req *sdk.Request, s settings) (sdk.Mutation, error) {
		obj, err := req.Object()
		if err != nil {
			return sdk.Mutation{}, err
		}
		obj.Set("x", "metadata", "labels", "a")
		return sdk.Changed(obj)
	},
}

const pod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":1}}}]}}`

func TestHandle(t *testing.T) {
	r := sdktest.Validate(t, &p, sdktest.Input{Manifest: pod, Settings: `{"deny":true}`, File: "/m/p.yaml"})
	if r.Allowed || !r.HasDenial("No", "spec") || len(r.Logs) != 1 || r.Logs[0] != "INFO: file /m/p.yaml" {
		t.Fatalf("%+v", r)
	}
	if r := sdktest.Validate(t, &p, sdktest.Input{Manifest: pod, Settings: `{"dney":true}`}); !strings.Contains(r.Error, `unknown field "dney"`) {
		t.Fatalf("typo: %+v", r)
	}
	if r := sdktest.Mutate(t, &p, sdktest.Input{Manifest: pod}); !strings.Contains(string(r.Manifest), `"labels":{"a":"x"}`) || !strings.Contains(string(r.Manifest), `"cpu":1`) {
		t.Fatalf("mutate: %s", r.Manifest)
	}
	if r := sdktest.Name(t, &p, sdktest.Input{Manifest: pod}); !strings.Contains(r.Error, "not offered") {
		t.Fatalf("name: %+v", r)
	}
	if r := sdktest.CheckSettings(t, &p, `{"deny":1}`); r.Valid {
		t.Fatal("bad settings valid")
	}
	if got := p.Metadata().Operations; len(got) != 2 {
		t.Fatalf("operations %v", got)
	}
}

func TestTemplate(t *testing.T) {
	out, err := template.Expand("{name}-{node}-{label:app}-{nodeLabel:zone}", template.Facts{Name: "p", Node: "n", Labels: map[string]string{"app": "a"}, NodeLabels: map[string]string{"zone": "z"}})
	if err != nil || out != "p-n-a-z" {
		t.Fatalf("%q %v", out, err)
	}
	for _, bad := range []string{"{nope}", "{name", "{label:}", "{name:x}"} {
		if template.Check(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestEmbedReplacesSection(t *testing.T) {
	module := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	once, err := wasmmeta.Embed(module, []byte(`{"name":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	twice, err := wasmmeta.Embed(once, []byte(`{"name":"b"}`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(twice), wasmmeta.SectionName) != 1 || !strings.HasSuffix(string(twice), `{"name":"b"}`) {
		t.Fatalf("%q", twice)
	}
	size, _ := binary.Uvarint(twice[9:])
	if int(size) != len(twice)-10 {
		t.Fatal("bad section size")
	}
	if _, err := wasmmeta.Embed([]byte("nope"), nil); err == nil {
		t.Fatal("non-wasm accepted")
	}
}
