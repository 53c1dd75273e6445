package daemon

// CheckAdminAuth exposes checkAdminAuth to the external tests.
var CheckAdminAuth = checkAdminAuth
