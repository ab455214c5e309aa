package main

import (
	"bytes"
	"context"
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/staticlet/staticlet/host/config"
	"github.com/staticlet/staticlet/host/source"
	staticurl "github.com/staticlet/staticlet/host/source/http"
)

// TestReloadRulesCoverSettings fails when a field of config.Settings has no
// reload rule (applied on SIGHUP, or reported as needing a restart), or a
// rule names no field.
func TestReloadRulesCoverSettings(t *testing.T) {
	fields := map[string]bool{}
	typ := reflect.TypeFor[config.Settings]()
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		fields[name] = true
		if rule, ok := reloadRules[name]; !ok || rule.setting == "" {
			t.Errorf("config.Settings.%s has no reload rule: add it to reloadRules (applied on SIGHUP or restart only)", name)
		}
	}
	for name := range reloadRules {
		if !fields[name] {
			t.Errorf("reloadRules[%q] names no field of config.Settings", name)
		}
	}
}

// TestReloadAppliesOrReports: a SIGHUP with a changed httpCheckFrequency
// reaches the running URL source, which fetches on the new interval; a
// changed restart-only setting is logged by name and keeps its running
// value.
func TestReloadAppliesOrReports(t *testing.T) {
	fetched := make(chan struct{}, 16)
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		fmt.Fprint(w, "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: c, image: busybox}]\n")
		fetched <- struct{}{}
	}))
	defer srv.Close()
	src := &staticurl.Source{URL: srv.URL, Interval: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, source.NewMailbox()) }()
	defer func() { cancel(); <-done }()
	<-fetched

	var logs bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info})
	current := config.Settings{HTTPCheckFrequency: time.Hour, ClusterDomain: "cluster.local", LogLevel: "info"}
	next := current
	next.HTTPCheckFrequency, next.ClusterDomain = 10*time.Millisecond, "example.org"
	got := applyReload(current, next, reloadTargets{log: log, http: src})
	if got.HTTPCheckFrequency != 10*time.Millisecond || got.ClusterDomain != "cluster.local" {
		t.Errorf("settings in force: httpCheckFrequency %s, clusterDomain %q", got.HTTPCheckFrequency, got.ClusterDomain)
	}
	select {
	case <-fetched:
	case <-time.After(30 * time.Second):
		t.Fatal("the URL source did not fetch on the reloaded interval")
	}
	out := logs.String()
	if !strings.Contains(out, "SIGHUP: setting applied: setting=httpCheckFrequency") {
		t.Errorf("no log of httpCheckFrequency applied:\n%s", out)
	}
	if !strings.Contains(out, "only changes on restart; keeping the running value: setting=clusterDomain") {
		t.Errorf("no warning that clusterDomain needs a restart:\n%s", out)
	}
	if strings.Contains(out, "logging.level") {
		t.Errorf("an unchanged setting was reported:\n%s", out)
	}
}
