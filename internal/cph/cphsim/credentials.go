package cphsim

// RefuseCredentials makes the API refuse every token (401 APIGW.0301, "token invalid") and IAM
// every password (401), as a revoked token or a changed password does, until it is called with
// false; tokens and users are as they were then. It is how a test turns a worker's credentials bad
// and good again while it runs; POST /_sim/refuse-credentials and /_sim/accept-credentials do the
// same for a simulator in another process.
func (s *Server) RefuseCredentials(refuse bool) { s.refuseAuth.Store(refuse) }
