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
		// What an earlier build of ours added (non-unique, beside FerretDB's): replaced by the unique one.
		`CREATE INDEX "tasks_1__id_path" ON "tasks_1" (_ferretdb_sjson->'$._id')`,
		`CREATE UNIQUE INDEX "tasks_1_seat_1" ON "tasks_1" (_ferretdb_sjson->"seat")`,
		`CREATE INDEX "tasks_1_status_1_due_-1" ON "tasks_1" (_ferretdb_sjson->"status", _ferretdb_sjson->"due" DESC)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}

	want := []string{
		"tasks_1__id_key", "tasks_1__due_arrays", "tasks_1__seat_arrays", "tasks_1__status_arrays",
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
	// FerretDB's _id index is gone: the one on the queried expression keeps _id unique.
	if _, err := db.Exec(`INSERT INTO "tasks_1" VALUES ('{"_id": "a", "seat": "s2"}')`); err == nil {
		t.Fatal("a second document with the same _id was stored")
	}
	// And it is the one SQLite uses for FerretDB's lookup by _id.
	var plan string
	if err := db.QueryRow(`EXPLAIN QUERY PLAN SELECT _ferretdb_sjson FROM "tasks_1" WHERE _ferretdb_sjson->'$._id' = ?`,
		`"a"`).Scan(new(int), new(int), new(int), &plan); err != nil {
		t.Fatal(err)
	}
	if plan != "SEARCH tasks_1 USING INDEX tasks_1__id_key (<expr>=?)" {
		t.Fatalf("lookup by _id: %q", plan)
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
