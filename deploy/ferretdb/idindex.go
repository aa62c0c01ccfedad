package main

// FerretDB 1.24's SQLite backend answers {_id: value} with
//     SELECT ... WHERE _ferretdb_sjson->'$._id' = ?
// but indexes _id as (_ferretdb_sjson->"_id"): a different expression to SQLite, so the index is never used and
// every lookup by _id reads the whole table (measured: 28 ms per lookup in a collection of 400 letters, growing
// with it). This adds, to every collection table, an index on exactly the expression the query uses.
// FerretDB does not know these indexes (listIndexes does not show them); dropping a collection drops them, and
// a collection made again gets its index again (each pass looks at what each file has). A database file is opened
// read-write but never created here: a database dropped between the listing and the opening must stay gone (a
// file made by us would have no FerretDB tables, and FerretDB would refuse to start on it).

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
	for {
		files, _ := filepath.Glob(filepath.Join(dataDir, "*.sqlite"))
		for _, file := range files {
			if err := indexFile(ctx, file); err != nil {
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

func indexFile(ctx context.Context, file string) error {
	db, err := sql.Open("sqlite", "file:"+file+"?mode=rw&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()
	// Collection tables without our index (FerretDB's own tables start with _ferretdb_).
	rows, err := db.QueryContext(ctx, `SELECT t.name FROM sqlite_master t
		WHERE t.type = 'table' AND t.sql LIKE '%_ferretdb_sjson%' AND t.name NOT LIKE '\_ferretdb\_%' ESCAPE '\'
		AND NOT EXISTS (SELECT 1 FROM sqlite_master i WHERE i.type = 'index' AND i.name = t.name || '__id_path')`)
	if err != nil {
		if strings.Contains(err.Error(), "unable to open") {
			return nil // dropped meanwhile
		}
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
		stmt := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS "%s__id_path" ON "%s" (_ferretdb_sjson->'$._id')`, table, table)
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}
