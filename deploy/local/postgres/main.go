// Command ferretdb-local runs FerretDB v1 as a MongoDB wire-protocol server on SQLite or PostgreSQL.
//
// The same program as ../ferretdb/main.go, with the backend as a flag: -handler=postgresql with
// -postgresql-url serves a PostgreSQL database (deploy/local/stack.py starts a private cluster),
// -handler=sqlite (the default) keeps -data-dir's SQLite files. It embeds
// github.com/FerretDB/FerretDB/ferretdb instead of building cmd/ferretdb, whose version check
// panics when built from the module proxy (upstream issue #2982).
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
	handler := flag.String("handler", "sqlite", "backend: sqlite or postgresql")
	dataDir := flag.String("data-dir", "./ferretdb-data", "directory holding the SQLite databases")
	pgURL := flag.String("postgresql-url", "", "PostgreSQL URL for -handler=postgresql, postgres://user@host:port/db")
	level := flag.String("log-level", "warn", "debug, info, warn or error (info logs every connection)")
	flag.Parse()

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		log.Fatal(err)
	}
	logger := slog.New(&lazyAttrs{inner: slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})})

	config := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listen},
		Logger:   logger,
		Handler:  *handler,
	}
	where := ""
	switch *handler {
	case "sqlite":
		dir, err := filepath.Abs(*dataDir)
		if err != nil {
			log.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			log.Fatal(err)
		}
		config.SQLiteURL = "file:" + dir + "/"
		where = "SQLite files in " + dir
	case "postgresql":
		if *pgURL == "" {
			log.Fatal("-handler=postgresql needs -postgresql-url")
		}
		config.PostgreSQLURL = *pgURL
		where = "PostgreSQL at " + *pgURL
	default:
		log.Fatalf("unknown -handler %q: sqlite or postgresql", *handler)
	}

	f, err := ferretdb.New(config)
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	log.Printf("ferretdb-local listening on %s, data: %s", *listen, where)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
	log.Print("ferretdb-local stopped")
}
