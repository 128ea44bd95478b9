package server

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"

	"github.com/linli/linli/cluster"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// Protocol versions this server speaks.
const (
	MinProtocolVersion = 1
	MaxProtocolVersion = 1
)

// newError builds a Connect error carrying an ErrorDetail.
func newError(code connect.Code, msg string, detail *linliv1.ErrorDetail) *connect.Error {
	err := connect.NewError(code, errors.New(msg))
	if d, derr := connect.NewErrorDetail(detail); derr == nil {
		err.AddDetail(d)
	}
	return err
}

func invalid(reason, field, msg string) *connect.Error {
	return newError(connect.CodeInvalidArgument, msg, &linliv1.ErrorDetail{Reason: reason, Field: field})
}

// checkVersion refuses requests in a protocol this server does not speak.
func checkVersion(v uint32) error {
	if v >= MinProtocolVersion && v <= MaxProtocolVersion {
		return nil
	}
	return newError(connect.CodeFailedPrecondition,
		"unsupported protocol version: please update the app",
		&linliv1.ErrorDetail{
			Reason:             "protocol_version_unsupported",
			MinProtocolVersion: MinProtocolVersion,
			MaxProtocolVersion: MaxProtocolVersion,
		})
}

// toConnect maps an error from the domain or the engine to a Connect error,
// once, at the edge. Unknown errors are logged and hidden.
func toConnect(ctx context.Context, log *slog.Logger, procedure string, err error) error {
	var (
		cerr *connect.Error
		derr *mutualaid.Error
		gap  *linlisync.GapError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &cerr):
		return cerr
	case errors.As(err, &derr):
		return domainError(derr)
	case errors.As(err, &gap):
		return newError(connect.CodeFailedPrecondition,
			"mutation ids skip ahead: resend from last_mutation_id + 1",
			&linliv1.ErrorDetail{Reason: "mutation_id_gap", LastMutationId: gap.LastMutationID})
	case errors.Is(err, linlisync.ErrBadCursor):
		return invalid("cursor_malformed", "cursor", "malformed cursor: pull again with an empty cursor")
	case errors.Is(err, linlisync.ErrBadMutationIDs):
		return invalid("mutation_ids_not_consecutive", "mutations", "mutation ids must start at 1 or more and grow by 1")
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, errors.New("call cancelled"))
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, errors.New("deadline exceeded"))
	case errors.Is(err, linlisync.ErrDiskFull):
		log.WarnContext(ctx, "write refused: disk nearly full", "procedure", procedure)
		e := newError(connect.CodeUnavailable, "the server's disk is nearly full: try again later",
			&linliv1.ErrorDetail{Reason: "disk_full", RetryAfterSeconds: 30})
		e.Meta().Set("Retry-After", "30")
		return e
	case errors.Is(err, linlisync.ErrNotWriter):
		return newError(connect.CodeUnavailable, "another node writes now: try again", &linliv1.ErrorDetail{Reason: "writer_unavailable"})
	case errors.Is(err, cluster.ErrUnavailable):
		log.WarnContext(ctx, "cluster log unavailable", "procedure", procedure, "err", err)
		return newError(connect.CodeUnavailable, "the write may not have been saved: try again", &linliv1.ErrorDetail{Reason: "writer_unavailable"})
	case errors.Is(err, linlisync.ErrClosed):
		return newError(connect.CodeUnavailable, "server is shutting down", &linliv1.ErrorDetail{Reason: "shutting_down"})
	case linlisync.IsCorruption(err):
		log.ErrorContext(ctx, "data loss", "procedure", procedure, "err", err)
		return newError(connect.CodeDataLoss, "internal error", &linliv1.ErrorDetail{Reason: "data_loss"})
	}
	log.ErrorContext(ctx, "internal error", "procedure", procedure, "err", err)
	return newError(connect.CodeInternal, "internal error", &linliv1.ErrorDetail{Reason: "internal"})
}

func domainError(e *mutualaid.Error) *connect.Error {
	code := connect.CodeInternal
	switch e.Code {
	case mutualaid.Invalid:
		code = connect.CodeInvalidArgument
	case mutualaid.NotFound:
		code = connect.CodeNotFound
	case mutualaid.Conflict:
		code = connect.CodeAborted
	case mutualaid.Forbidden:
		code = connect.CodePermissionDenied
	case mutualaid.Unauthenticated:
		code = connect.CodeUnauthenticated
	}
	return newError(code, e.Message, &linliv1.ErrorDetail{Reason: e.Reason, Field: e.Field})
}
