package daemon

import (
	"context"

	"github.com/eaglenotifier/talon/reconciler"
	"github.com/eaglenotifier/talon/reconciler/promote"
)

// promoter commits the reconciler's automatic promotions with promote.Promoter.
type promoter struct{ p promote.Promoter }

// Promote implements reconciler.Promoter.
func (a promoter) Promote(ctx context.Context, pr reconciler.Promotion) (string, error) {
	res, err := a.p.Promote(ctx, promote.Request{Org: pr.Org, File: pr.File, Tag: pr.Tag, Digest: pr.Digest,
		Range: pr.Range, Signer: pr.Signer, Branch: pr.Branch})
	return res.Commit, err
}
