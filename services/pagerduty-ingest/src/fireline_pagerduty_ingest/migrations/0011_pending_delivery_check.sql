-- Whether a PagerDuty incident has a delivery pending for the worker, as committed now.
-- The receiver's statement asks this after it took the incident's advisory lock, so it must see
-- what committed while it waited for that lock: the statement's own snapshot is older. Under
-- READ COMMITTED each query of a VOLATILE PL/pgSQL function takes a fresh snapshot (an SQL
-- function could be inlined into the caller's query, and would then use the caller's snapshot).
CREATE FUNCTION delivery_pending(p_org_id uuid, p_incident_id text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM deliveries
        WHERE org_id = p_org_id AND incident_id = p_incident_id AND status = 'received');
END
$$;
