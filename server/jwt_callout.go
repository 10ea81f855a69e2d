package server

// validateConfigCallout checks auth_callout in config mode.
func validateConfigCallout(o *Options) error {
	if o.AuthCallout == nil {
		return nil
	}
	return fmtErr("auth_callout: not supported yet by this server")
}
