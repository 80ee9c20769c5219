-- Liveness over the whole track (protocol `presence.track_liveness`): the agent's summary of an
-- interval's landmark samples — non-rigid motion, blinks, the model's median and its verdict — as the
-- JSON of the latest report. NULL for reports without it (older agents, intervals without samples).
ALTER TABLE presence_intervals ADD COLUMN track_liveness TEXT;
