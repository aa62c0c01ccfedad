package main

// FerretDB 1.24 logs every SQL statement it runs as `logger.With(args...).Debug(...)`. slog's built-in handlers
// format the attributes in With() already, before the level is checked, so every insert quoted its whole
// document twice even with debug logging off: 14% of FerretDB's CPU in our end-to-end benchmark (go tool pprof).
// lazyAttrs keeps With()'s attributes unformatted until a record is actually logged.

import (
	"context"
	"log/slog"
	"slices"
)

type lazyAttrs struct {
	next  slog.Handler
	attrs []slog.Attr
}

func (h lazyAttrs) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h lazyAttrs) WithAttrs(attrs []slog.Attr) slog.Handler {
	return lazyAttrs{next: h.next, attrs: append(slices.Clip(h.attrs), attrs...)}
}

func (h lazyAttrs) WithGroup(name string) slog.Handler {
	// Rare: apply what is pending, then group (keeps the attributes' nesting right).
	return lazyAttrs{next: h.next.WithAttrs(h.attrs).WithGroup(name)}
}

func (h lazyAttrs) Handle(ctx context.Context, r slog.Record) error {
	if len(h.attrs) == 0 {
		return h.next.Handle(ctx, r)
	}
	return h.next.WithAttrs(h.attrs).Handle(ctx, r)
}
