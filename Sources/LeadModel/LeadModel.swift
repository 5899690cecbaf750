// LeadModel module.
