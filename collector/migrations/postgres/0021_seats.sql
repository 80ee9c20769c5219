-- The seat zone (a dialysis chair, a bed) that held most of an interval's face centres (protocol
-- `presence.seat`), as the box's technician drew the zones on the camera. NULL for reports without it
-- (older agents, cameras without zones, intervals no zone held). The rules learn each patient's usual
-- (camera, seat) from it and match an unknown face in an absent patient's chair to that patient.
ALTER TABLE presence_intervals ADD COLUMN seat TEXT;
