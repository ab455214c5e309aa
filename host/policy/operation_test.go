package policy

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/plugin"
	"github.com/staticlet/staticlet/host/plugin/plugintest"
	"github.com/staticlet/staticlet/host/source"
)

func TestRunOperation(t *testing.T) {
	ctx := context.Background()
	chain, err := plugin.LoadChain(ctx, []plugin.Spec{{Name: "echo", Path: plugintest.BuildGo(t, "host/plugin/testdata/rulebreaker", false),
		Settings: json.RawMessage(`{"behavior":"echo"}`)}}, plugin.Options{CacheDir: plugintest.CacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close(ctx)
	node := plugin.Node{Name: "n1"}
	file := source.File{Source: source.NameFile, Path: "/m/web.yaml",
		Content: []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: c, image: nginx}]\n")}

	res, err := RunOperation(ctx, chain, plugin.OpValidate, file, node, time.Unix(0, 0))
	if err != nil || !res.Called || res.Validate.Allowed || len(res.Validate.Denials) != 1 ||
		!strings.HasPrefix(res.Validate.Denials[0].Message, "name=web-n1 namespace=default nodeName=n1 uid=true") {
		t.Fatalf("validate: %+v %v", res, err)
	}
	if !strings.Contains(string(res.Request.Manifest), `"name":"web-n1"`) || strings.Contains(string(res.Request.AsRead), "web-n1") || res.Request.File != "/m/web.yaml" {
		t.Errorf("request: %s / as read %s", res.Request.Manifest, res.Request.AsRead)
	}
	if res.Admission.Verdict != "rejected" {
		t.Errorf("the agent's verdict with the plugin's denial: %s", res.Admission.Verdict)
	}

	res, err = RunOperation(ctx, chain, plugin.OpMutate, file, node, time.Unix(0, 0))
	if err != nil || !res.Called || len(res.Mutate.Changes) != 1 || string(res.Request.Manifest) != string(res.Request.AsRead) {
		t.Fatalf("mutate: %+v %v", res, err)
	}

	noName := file
	noName.Content = []byte("apiVersion: v1\nkind: Pod\nspec:\n  containers: [{name: c, image: nginx}]\n")
	res, err = RunOperation(ctx, chain, plugin.OpValidate, noName, node, time.Unix(0, 0))
	if err != nil || res.Called || len(res.Admission.Reasons) == 0 || res.Admission.Reasons[0].Field != "metadata.name" {
		t.Fatalf("rejected before the plugin: %+v %v", res, err)
	}

	if _, err := RunOperation(ctx, chain, plugin.OpValidateSettings, file, node, time.Unix(0, 0)); !errors.Is(err, ErrNotAnOperation) {
		t.Fatal("validate_settings accepted as an operation to run")
	}
}
