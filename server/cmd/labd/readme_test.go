package main

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEConfigurationTable keeps the README's configuration table true:
// one row per setting, with its flag, variable and default.
func TestREADMEConfigurationTable(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "## Configuration")
	if !ok {
		t.Fatal("README has no Configuration section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	rows := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`--") {
			continue
		}
		rows[strings.Trim(strings.TrimSpace(cells[1]), "`")] = line
	}
	for _, s := range settings {
		row, ok := rows["--"+s.Flag]
		if !ok {
			t.Errorf("README configuration table lacks --%s", s.Flag)
			continue
		}
		delete(rows, "--"+s.Flag)
		cells := strings.Split(row, "|")
		if env := strings.Trim(strings.TrimSpace(cells[2]), "`"); env != s.Env {
			t.Errorf("--%s: README says $%s, labd reads $%s", s.Flag, env, s.Env)
		}
		if def := strings.Trim(strings.TrimSpace(cells[3]), "`"); def != s.Default {
			t.Errorf("--%s: README default %q, labd's %q", s.Flag, def, s.Default)
		}
	}
	for flag := range rows {
		t.Errorf("README documents %s, which labd does not have", flag)
	}
}
