// Package testhook carries raw SQL access to a store transaction from
// package store to package storetest without putting it on store.Tx.
// Being internal to server/store, only the store and its subpackages can
// import it; the store fills the functions in when it is initialised.
package testhook

import "context"

// Raw runs a query in tx (a *store.Tx) and scans the result into dest.
var Raw func(ctx context.Context, tx any, dest any, query string, args ...any) error

// Exec runs a statement in tx (a *store.Tx).
var Exec func(ctx context.Context, tx any, query string, args ...any) error
