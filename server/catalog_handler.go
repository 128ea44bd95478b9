package server

import (
	"context"
	"log/slog"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// catalogHandler serves CatalogService.
type catalogHandler struct {
	svc     *mutualaid.Service
	members members
	log     *slog.Logger
}

// GetCatalog returns the item catalog and the needs a request may name.
func (h *catalogHandler) GetCatalog(ctx context.Context, req *linliv1.GetCatalogRequest) (*linliv1.GetCatalogResponse, error) {
	if _, err := h.members.call(ctx, req.GetProtocolVersion(), "GetCatalog"); err != nil {
		return nil, err
	}
	return h.svc.Catalog(), nil
}
