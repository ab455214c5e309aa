package testenv

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// RunScript runs `bash script command stateDir` with extra environment
// variables, as the harness scripts under hack/ expect, and returns its
// standard output.
func RunScript(timeout time.Duration, script, command, stateDir string, env ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script, command, stateDir)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s %s: %w: %s", script, command, stateDir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// ParseEnv reads KEY=VALUE lines, as the scripts' `env` command prints them.
func ParseEnv(out []byte) map[string]string {
	env := map[string]string{}
	scanner := bufio.NewScanner(bytes.NewReader(out))
	for scanner.Scan() {
		if key, value, ok := strings.Cut(scanner.Text(), "="); ok {
			env[key] = value
		}
	}
	return env
}

// RepoRoot finds the staticlet module's root above the working directory,
// where go test runs tests.
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the repository root: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && declaresModule(data) {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("find the repository root: no go.mod of %s above %s", modulePath, wd)
		}
	}
}

func declaresModule(goMod []byte) bool {
	for line := range strings.Lines(string(goMod)) {
		if fields := strings.Fields(line); len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == modulePath
		}
	}
	return false
}
