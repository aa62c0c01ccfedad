package main

// FerretDB 1.24's SQLite backend answers {_id: value} with
//     SELECT ... WHERE _ferretdb_sjson->'$._id' = ?
// but indexes _id as (_ferretdb_sjson->"_id"): a different expression to SQLite, so the index is never used and
// every lookup by _id reads the whole table (measured: 28 ms per lookup in a collection of 400 letters, growing
// with it). This adds, to every collection table, an index on exactly the expression the query uses.
// FerretDB does not know these indexes (listIndexes does not show them); dropping a collection drops them.

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the same SQLite driver FerretDB uses
)

func indexIDPaths(ctx context.Context, dataDir string, every time.Duration) {
	seen := map[string]bool{}
	for {
		files, _ := filepath.Glob(filepath.Join(dataDir, "*.sqlite"))
		for _, file := range files {
			if err := indexFile(ctx, file, seen); err != nil {
				log.Printf("id index for %s: %v (will retry)", filepath.Base(file), err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

func indexFile(ctx context.Context, file string, seen map[string]bool) error {
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%_ferretdb_sjson%'`)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, name)
	}
	rows.Close()
	for _, table := range tables {
		key := file + "/" + table
		if seen[key] || strings.HasPrefix(table, "_ferretdb_") {
			continue
		}
		stmt := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS "%s__id_path" ON "%s" (_ferretdb_sjson->'$._id')`, table, table)
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return err
		}
		seen[key] = true
	}
	return nil
}
