package dashboard

import (
	"errors"
	"net/http"
	"strings"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/internal/realip"
)

func (d *Dashboard) auditPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	kind := r.URL.Query().Get("kind")
	if _, ok := auditZh[kind]; !ok {
		kind = ""
	}
	es, err := d.Audit.List(r.Context(), kind, 300)
	if err != nil {
		d.fail(w, r, rc, err)
		return
	}
	kinds := []string{AuditLogin, AuditLoginFailed, AuditLocked, AuditLogout, AuditAction, AuditTextReview, AuditReveal, AuditUser, AuditExport}
	d.render(w, r, rc, "audit", "审计日志", map[string]any{"Entries": es, "Kind": kind, "Kinds": kinds})
}

func (d *Dashboard) usersPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	d.renderUsers(w, r, rc, "", http.StatusOK)
}

func (d *Dashboard) renderUsers(w http.ResponseWriter, r *http.Request, rc *reqCtx, msg string, status int) {
	us, err := d.Accounts.List(r.Context())
	if err != nil {
		d.fail(w, r, rc, err)
		return
	}
	w.WriteHeader(status)
	d.render(w, r, rc, "users", "账号管理", map[string]any{"Users": us, "Error": msg,
		"Roles": []casecore.Role{casecore.RoleHandler, casecore.RoleAdmin, casecore.RoleSupervisor}})
}

func formUnits(r *http.Request) []string {
	_ = r.ParseForm()
	return r.PostForm["units"]
}

func (d *Dashboard) userAdd(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	n := NewUser{Name: strings.ToLower(strings.TrimSpace(r.PostFormValue("name"))), DisplayName: strings.TrimSpace(r.PostFormValue("display_name")),
		Role: casecore.Role(r.PostFormValue("role")), Units: formUnits(r), Password: r.PostFormValue("password")}
	if n.Role != casecore.RoleHandler {
		n.Units = nil
	}
	if _, err := d.Accounts.Create(r.Context(), n); err != nil {
		status, msg := errorStatus(err)
		if status == http.StatusInternalServerError {
			d.fail(w, r, rc, err)
			return
		}
		d.renderUsers(w, r, rc, msg, status)
		return
	}
	_ = d.Audit.Add(r.Context(), AuditEntry{Kind: AuditUser, Actor: rc.user.Name, IP: realip.ClientIP(r),
		Detail: "add " + n.Name + " " + string(n.Role) + " " + strings.Join(n.Units, ",")})
	http.Redirect(w, r, "/dash/users?done=user_added", http.StatusSeeOther)
}

// userUpdate applies one of: op=role (role and units), op=disable,
// op=enable, op=password (reset, which also lifts a lock-out).
func (d *Dashboard) userUpdate(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctx := r.Context()
	name := r.PathValue("name")
	if _, err := d.Accounts.Get(ctx, name); err != nil {
		d.fail(w, r, rc, err)
		return
	}
	op := r.PostFormValue("op")
	var err error
	detail := op + " " + name
	switch op {
	case "role":
		role := casecore.Role(r.PostFormValue("role"))
		units := formUnits(r)
		if role != casecore.RoleHandler {
			units = nil
		}
		if name == rc.user.Name && role != casecore.RoleAdmin {
			err = &casecore.ValidationError{Field: "role", Message: "you cannot remove your own administrator role"}
			break
		}
		err = d.Accounts.SetRole(ctx, name, role, units)
		detail += " " + string(role) + " " + strings.Join(units, ",")
	case "disable", "enable":
		if name == rc.user.Name {
			err = &casecore.ValidationError{Field: "name", Message: "you cannot disable your own account"}
			break
		}
		err = d.Accounts.SetDisabled(ctx, name, op == "disable")
	case "password":
		if err = d.Accounts.SetPassword(ctx, name, r.PostFormValue("password")); err == nil {
			err = d.Limiter.Unlock(ctx, name)
		}
	default:
		err = &casecore.ValidationError{Field: "op", Message: "role, disable, enable or password"}
	}
	if err != nil {
		var ve *casecore.ValidationError
		if errors.As(err, &ve) {
			_, msg := errorStatus(err)
			d.renderUsers(w, r, rc, msg, http.StatusBadRequest)
			return
		}
		d.fail(w, r, rc, err)
		return
	}
	_ = d.Audit.Add(ctx, AuditEntry{Kind: AuditUser, Actor: rc.user.Name, IP: realip.ClientIP(r), Detail: detail})
	http.Redirect(w, r, "/dash/users?done=user_updated", http.StatusSeeOther)
}
