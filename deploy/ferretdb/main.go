// Command ferretdb runs FerretDB 1.24 (MongoDB wire protocol, SQLite backend) embedded in our own binary.
//
// Also adds the _id index the SQLite backend needs and lacks (idindex.go), and keeps its debug logging from
// costing CPU when it is off (logging.go).
//
// Why not `go install .../cmd/ferretdb`: that binary panics at start because build/version/version.txt is not
// part of the published module. Embedding the public `ferretdb` package avoids it.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	dataDir := flag.String("data-dir", "data/ferretdb", "directory for the SQLite files")
	synchronous := flag.String("sqlite-synchronous", "FULL",
		"SQLite's synchronous setting: FULL (fsync at every commit) or NORMAL (WAL: survives a crash of the process, "+
			"may lose the last commits on power loss)")
	// SQLite copies the write-ahead log into the database file every this many pages (its default: 1,000). The
	// same hot pages (the index b-trees' and the tables' last pages) are written again and again; copied less
	// often, each is copied once for many commits. Measured on updates of 5 KB task documents: 3.9 -> 3.2 ms of
	// FerretDB CPU per update with 10,000 (the log then grows to ~40 MB between copies).
	walCheckpoint := flag.Int("sqlite-wal-autocheckpoint", 10000, "SQLite's wal_autocheckpoint, in pages")
	debugAddr := flag.String("debug-addr", "", "if set, serve Go's profiler (net/http/pprof) there, e.g. 127.0.0.1:6060")
	flag.Parse()

	if *debugAddr != "" {
		go func() { log.Print(http.ListenAndServe(*debugAddr, nil)) }() // for `go tool pprof` (benchmarks)
	}

	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		log.Fatalf("cannot create data directory %s: %v", *dataDir, err)
	}

	sqliteURL := "file:" + *dataDir + "/?_pragma=synchronous(" + url.QueryEscape(*synchronous) + ")" +
		"&_pragma=wal_autocheckpoint(" + strconv.Itoa(*walCheckpoint) + ")"
	logger := slog.New(lazyAttrs{next: slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})})
	f, err := ferretdb.New(&ferretdb.Config{
		Logger:    logger,
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		log.Fatalf("cannot configure FerretDB: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	go indexIDPaths(ctx, *dataDir, 2*time.Second) // see idindex.go

	log.Printf("FerretDB listening on %s, data in %s", *listen, *dataDir)
	f.Run(ctx)
	log.Print("FerretDB stopped")
}
