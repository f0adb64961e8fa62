-- Earlier calls from the same number (the console's screen pop): incidents by caller, newest
-- first.
CREATE INDEX incident_caller ON incident (caller, opened_at);
