package main

// FerretDB 1.24's SQLite backend answers {_id: value} with
//     SELECT ... WHERE _ferretdb_sjson->'$._id' = ?
// but indexes _id as (_ferretdb_sjson->"_id"): a different expression to SQLite, so the index is never used and
// every lookup by _id reads the whole table (measured: 28 ms per lookup in a collection of 400 letters, growing
// with it). This adds, to every collection table, a unique index on exactly the expression the query uses, then
// drops FerretDB's own _id index (the same values, so the same uniqueness; FerretDB itself never reads by it, and
// keeping both made every write maintain two _id indexes); and for
// every field FerretDB indexes (createIndexes), the two our patch's queries on that field use
// (deploy/ferretdb/pushdown.patch): its value as SQLite reads it, and the documents holding an array there.
// FerretDB's own non-unique index on the same fields is then dropped: no query can use it (it reads the fields
// with ->), and it made every write of a task in school_intake compute 19 JSON extractions more.
// FerretDB does not know these indexes (listIndexes does not show them); dropping a collection drops them, and
// a collection made again gets its index again (each pass looks at what each file has). A database file is opened
// read-write but never created here: a database dropped between the listing and the opening must stay gone (a
// file made by us would have no FerretDB tables, and FerretDB would refuse to start on it). Until a pass has
// made them, the queries are right but read the table.

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"path/filepath"
	"regexp"
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
	// Every table and index of the file (FerretDB's own tables start with _ferretdb_).
	rows, err := db.QueryContext(ctx, `SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master
		WHERE type IN ('table', 'index') AND tbl_name NOT LIKE '\_ferretdb\_%' ESCAPE '\'`)
	if err != nil {
		if strings.Contains(err.Error(), "unable to open") {
			return nil // dropped meanwhile
		}
		return err
	}
	tables, indexes, ferrets := map[string]bool{}, map[string]bool{}, map[string]map[string][]string{}
	unique := map[string]bool{}
	for rows.Next() {
		var kind, name, table, stmt string
		if err := rows.Scan(&kind, &name, &table, &stmt); err != nil {
			rows.Close()
			return err
		}
		switch {
		case kind == "table" && strings.Contains(stmt, "_ferretdb_sjson"):
			tables[table] = true
		case kind == "index":
			indexes[name] = true
			unique[name] = strings.HasPrefix(stmt, "CREATE UNIQUE ")
			if fields := indexedFields(stmt); fields != nil {
				if ferrets[table] == nil {
					ferrets[table] = map[string][]string{}
				}
				ferrets[table][name] = fields
			}
		}
	}
	rows.Close()
	for table := range tables {
		for name, stmt := range wanted(table, ferrets[table]) {
			if indexes[name] {
				continue
			}
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		for _, name := range unneeded(table, ferrets[table], indexes, unique) {
			if _, err := db.ExecContext(ctx, fmt.Sprintf(`DROP INDEX IF EXISTS %q`, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// unneeded: the indexes of a table that only cost every write an index more, once wanted's exist.
//   - The unique index on the queried _id expression replaces FerretDB's own _id index and the non-unique one an
//     older build of ours made (_id_path).
//   - FerretDB's own index on the fields (->) serves no query once its mirror (->>) exists: every condition the
//     patch pushes down reads them with ->>, and FerretDB's own queries ask by _id only. It still costs every
//     insert and update a JSON extraction per field and a b-tree write, so it goes, unless it is unique: that one
//     keeps the uniqueness. FerretDB keeps it in its metadata (listIndexes shows it, and a createIndexes of it
//     again is a no-op; its statistics count it as 0, stats.patch); dropIndexes of it would fail, and none of our
//     services drops one.
func unneeded(table string, ferrets map[string][]string, indexes, unique map[string]bool) []string {
	var names []string
	for _, name := range []string{table + "__id_", table + "__id_path"} {
		if indexes[name] {
			names = append(names, name)
		}
	}
	for name := range ferrets {
		if !unique[name] {
			names = append(names, name)
		}
	}
	return names
}

// FerretDB's own index: `ON "table" (_ferretdb_sjson->"a", _ferretdb_sjson->"b" DESC)`. Only indexes whose
// fields are all top-level are mirrored (a dotted field is written `->"a"->"b"`, and the patch leaves it alone).
var (
	ferretIndex = regexp.MustCompile(`^CREATE (?:UNIQUE )?INDEX "[^"]+" ON "[^"]+" \((.*)\)$`)
	ferretField = regexp.MustCompile(`^_ferretdb_sjson->"([^"'\\.\[\]*$]+)"(?: DESC| ASC)?$`)
)

func indexedFields(stmt string) []string {
	m := ferretIndex.FindStringSubmatch(strings.TrimSpace(stmt))
	if m == nil {
		return nil
	}
	var fields []string
	for _, column := range strings.Split(m[1], ", ") {
		f := ferretField.FindStringSubmatch(strings.TrimSpace(column))
		if f == nil || f[1] == "_id" {
			return nil
		}
		fields = append(fields, f[1])
	}
	return fields
}

// wanted: the indexes our patch's queries use (pushdown.patch): _id by the path the queries say (unique); for each index
// of FerretDB's, the same fields as SQLite reads them (->>); for each of their fields, the documents holding an
// array there. The expressions must be written exactly as the patch writes them, or SQLite does not see that
// they match.
func wanted(table string, ferrets map[string][]string) map[string]string {
	out := map[string]string{
		table + "__id_key": fmt.Sprintf(`CREATE UNIQUE INDEX IF NOT EXISTS "%s__id_key" ON "%s" (_ferretdb_sjson->'$._id')`,
			table, table),
	}
	for index, fields := range ferrets {
		columns := make([]string, len(fields))
		for i, field := range fields {
			columns[i] = `_ferretdb_sjson->>'$."` + field + `"'`
			arrays := table + "__" + field + "_arrays"
			out[arrays] = fmt.Sprintf(`CREATE INDEX IF NOT EXISTS "%s" ON "%s" (_ferretdb_sjson->'$._id') `+
				`WHERE json_type(_ferretdb_sjson, '$."%s"') = 'array'`, arrays, table, field)
		}
		value := index + "__value"
		out[value] = fmt.Sprintf(`CREATE INDEX IF NOT EXISTS "%s" ON "%s" (%s)`, value, table, strings.Join(columns, ", "))
	}
	return out
}
