package server

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"

	"github.com/linli/linli/mutualaid"
	linlisync "github.com/linli/linli/sync"
)

// Operator is the principal of the tokens `linli admin` mints from the data
// folder's keys for operations such as an online backup. Only someone who
// can read the signing keys can mint it; community admins' tokens (from
// Join) never carry this user and community.
var Operator = Principal{UserID: "linli-operator", CommunityID: "-", Role: mutualaid.RoleAdmin}

// BackupPath is where the online backup is requested.
const BackupPath = "/admin/v1/backup"

type backupRequest struct {
	Dir string `json:"dir"`
}

type backupResponse struct {
	Dir   string `json:"dir"`
	Epoch string `json:"epoch"`
}

// backupHandler takes an online, consistent backup into a new absolute
// folder on the server's machine: POST {"dir": "/backups/linli-2026-11-26"}
// answers {"dir", "epoch"}. Operator tokens only.
func (s *Server) backupHandler(w http.ResponseWriter, r *http.Request) {
	p, ok := PrincipalFrom(r.Context())
	if !ok || p.UserID != Operator.UserID || p.CommunityID != Operator.CommunityID || p.Role != mutualaid.RoleAdmin {
		http.Error(w, "operator token required (linli admin backup mints one)", http.StatusForbidden)
		return
	}
	var req backupRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || !filepath.IsAbs(req.Dir) {
		http.Error(w, `body must be {"dir": "<absolute path of a new folder>"}`, http.StatusBadRequest)
		return
	}
	err := s.svc.Backup(r.Context(), req.Dir)
	switch {
	case errors.Is(err, linlisync.ErrBackupExists):
		http.Error(w, "the backup folder already exists", http.StatusConflict)
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "online backup", "dir", req.Dir, "err", err)
		http.Error(w, "backup failed; see the server log", http.StatusInternalServerError)
		return
	}
	epoch := s.svc.Epoch()
	s.log.InfoContext(r.Context(), "online backup", "dir", req.Dir)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(backupResponse{Dir: req.Dir, Epoch: hex.EncodeToString(epoch[:])})
}
