package main

// Run by tests/test_ferretdb_build.py (go test in the build directory deploy/ferretdb.sh install makes).

import (
	"context"
	"database/sql"
	"path/filepath"
	"sort"
	"testing"
)

func indexNames(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks_1'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func TestMirrorsFerretDBsIndexesAndDropsTheNonUniqueOnes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "db.sqlite")
	db, err := sql.Open("sqlite", "file:"+file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A collection table and indexes as FerretDB 1.24 writes them (metadata.Registry.indexesCreate).
	for _, stmt := range []string{
		`CREATE TABLE "tasks_1" (_ferretdb_sjson TEXT)`,
		`CREATE UNIQUE INDEX "tasks_1__id_" ON "tasks_1" (_ferretdb_sjson->"_id")`,
		`CREATE UNIQUE INDEX "tasks_1_seat_1" ON "tasks_1" (_ferretdb_sjson->"seat")`,
		`CREATE INDEX "tasks_1_status_1_due_-1" ON "tasks_1" (_ferretdb_sjson->"status", _ferretdb_sjson->"due" DESC)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}

	want := []string{
		"tasks_1__id_path", "tasks_1__due_arrays", "tasks_1__id_", "tasks_1__seat_arrays", "tasks_1__status_arrays",
		"tasks_1_seat_1", "tasks_1_seat_1__value", "tasks_1_status_1_due_-1__value",
	}
	sort.Strings(want)
	for pass := 1; pass <= 2; pass++ { // a second pass changes nothing
		if err := indexFile(context.Background(), file); err != nil {
			t.Fatal(err)
		}
		if got := indexNames(t, db); !equal(got, want) {
			t.Fatalf("pass %d: indexes %v, want %v", pass, got, want)
		}
	}

	// The unique index FerretDB made still refuses a duplicate.
	if _, err := db.Exec(`INSERT INTO "tasks_1" VALUES ('{"_id": "a", "seat": "s1"}')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO "tasks_1" VALUES ('{"_id": "b", "seat": "s1"}')`); err == nil {
		t.Fatal("a second document with the same seat was stored")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
