package main

import (
	"testing"

	"github.com/staticlet/staticlet/sdk/sdktest"
)

const pod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","labels":{"team":"payments"}},"spec":{"containers":[{"name":"a","image":"nginx"},{"name":"b","image":"nginx"}]}}`

func TestAllowsLabelledPod(t *testing.T) {
	r := sdktest.Validate(t, &Plugin, sdktest.Input{Manifest: pod})
	if !r.Allowed || r.Error != "" {
		t.Fatalf("%+v", r)
	}
}

func TestDeniesMissingTeamAndTooManyContainers(t *testing.T) {
	r := sdktest.Validate(t, &Plugin, sdktest.Input{
		Manifest: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":{"containers":[{"name":"a"},{"name":"b"}]}}`,
		Settings: `{"maxContainers":1}`,
	})
	if r.Allowed || !r.HasDenial("MissingTeam", "metadata.labels") || !r.HasDenial("TooManyContainers", "") {
		t.Fatalf("%+v", r)
	}
}

func TestNamesAfterTeam(t *testing.T) {
	r := sdktest.Name(t, &Plugin, sdktest.Input{Manifest: pod, Node: sdktestNode("worker-3")})
	if r.Name != "payments-web-worker-3" || len(r.Logs) != 1 {
		t.Fatalf("%+v", r)
	}
}

func TestSettingsAreChecked(t *testing.T) {
	if r := sdktest.CheckSettings(t, &Plugin, `{"maxContainers":-1}`); r.Valid {
		t.Fatal("negative maxContainers accepted")
	}
	if r := sdktest.CheckSettings(t, &Plugin, `{"teamLabl":"x"}`); r.Valid {
		t.Fatal("typo accepted")
	}
}
