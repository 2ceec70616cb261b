// Command ferretdb-local runs FerretDB v1 (SQLite backend) as a MongoDB wire-protocol server.
//
// It embeds github.com/FerretDB/FerretDB/ferretdb instead of building cmd/ferretdb, whose
// version check panics when built from the module proxy (upstream issue #2982).
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to serve the MongoDB protocol on")
	dataDir := flag.String("data-dir", "./ferretdb-data", "directory holding the SQLite databases")
	level := flag.String("log-level", "warn", "debug, info, warn or error (info logs every connection)")
	// NORMAL in WAL mode: a commit is in the write-ahead log before it is acknowledged, so a
	// crash of this process or of any client loses nothing; only the machine itself failing
	// may lose the last commits, as with a standalone MongoDB's default write concern (its
	// journal is flushed every 100 ms) and Kafka's defaults (no fsync per message). FULL syncs
	// every commit to disk: about a third fewer updates per second (docs/database.md).
	synchronous := flag.String("synchronous", "normal", "SQLite synchronous pragma: normal or full")
	flag.Parse()

	if *synchronous != "normal" && *synchronous != "full" {
		log.Fatalf("-synchronous: expected normal or full, got %q", *synchronous)
	}

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		log.Fatal(err)
	}
	logger := slog.New(&lazyAttrs{inner: slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})})

	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/?_pragma=synchronous(" + *synchronous + ")",
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	log.Printf("ferretdb-local listening on %s, data in %s", *listen, dir)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
	log.Print("ferretdb-local stopped")
}
