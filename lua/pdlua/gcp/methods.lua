--- pdlua.gcp.methods: every Compute Engine v1 method pdlua calls, in one
-- place. Each entry says how to turn a Lua call into an HTTP request; the
-- generic machinery (auth, retries, rate limit, JSON) is in src/gcp.
--
-- Fields of an entry:
--   verb      HTTP method
--   path      template relative to the endpoint; {name} is filled from the
--             call's parameters ({project} and {zone} default to the
--             client's); the REST reference names the same parameters
--   query     query parameters the method accepts (API spelling)
--   required  query parameters that must be given
--   body      the call takes `body` (a table, encoded as JSON)
--   mutation  starts an operation: gets a requestId (reused on retries)
--             and takes a slot of the in-flight cap
--   request_id  false for a mutation whose request has no requestId
--   pages     a list: the call returns an iterator over `items`
--   aggregated  `items` is keyed by scope ("zones/us-central1-a")
--   items_key   for aggregated lists, the field holding each scope's items
--   poll      reads an operation: DONE frees its slot
--   long_poll operations.wait (server waits up to ~2 min)
--   aliases   other accepted names for path parameters
local list_query = {"filter", "maxResults", "orderBy", "returnPartialSuccess"}
local agg_query = {"filter", "maxResults", "orderBy", "returnPartialSuccess",
                   "includeAllScopes"}

local Z = "projects/{project}/zones/{zone}/"
local G = "projects/{project}/global/"

return {
  disks = {
    list = {verb = "GET", path = Z .. "disks", query = list_query, pages = true},
    aggregated_list = {verb = "GET", path = "projects/{project}/aggregated/disks",
                       query = agg_query, pages = true, aggregated = true,
                       items_key = "disks"},
    get = {verb = "GET", path = Z .. "disks/{disk}"},
    insert = {verb = "POST", path = Z .. "disks", body = true, mutation = true,
              query = {"sourceImage"}},
    delete = {verb = "DELETE", path = Z .. "disks/{disk}", mutation = true},
    set_labels = {verb = "POST", path = Z .. "disks/{disk}/setLabels", body = true,
                  mutation = true, aliases = {resource = "disk"}},
    create_snapshot = {verb = "POST", path = Z .. "disks/{disk}/createSnapshot",
                       body = true, mutation = true, query = {"guestFlush"}},
  },
  snapshots = {
    list = {verb = "GET", path = G .. "snapshots", query = list_query, pages = true},
    get = {verb = "GET", path = G .. "snapshots/{snapshot}"},
    insert = {verb = "POST", path = G .. "snapshots", body = true, mutation = true},
    delete = {verb = "DELETE", path = G .. "snapshots/{snapshot}", mutation = true},
    -- SetLabelsSnapshotRequest has no requestId (compute.proto).
    set_labels = {verb = "POST", path = G .. "snapshots/{snapshot}/setLabels", body = true,
                  mutation = true, request_id = false, aliases = {resource = "snapshot"}},
  },
  instances = {
    list = {verb = "GET", path = Z .. "instances", query = list_query, pages = true},
    aggregated_list = {verb = "GET", path = "projects/{project}/aggregated/instances",
                       query = agg_query, pages = true, aggregated = true,
                       items_key = "instances"},
    get = {verb = "GET", path = Z .. "instances/{instance}"},
    stop = {verb = "POST", path = Z .. "instances/{instance}/stop", mutation = true,
            query = {"discardLocalSsd"}},
    start = {verb = "POST", path = Z .. "instances/{instance}/start", mutation = true},
    attach_disk = {verb = "POST", path = Z .. "instances/{instance}/attachDisk",
                   body = true, mutation = true, query = {"forceAttach"}},
    detach_disk = {verb = "POST", path = Z .. "instances/{instance}/detachDisk",
                   mutation = true, query = {"deviceName"}, required = {"deviceName"}},
    set_disk_auto_delete = {verb = "POST",
                            path = Z .. "instances/{instance}/setDiskAutoDelete",
                            mutation = true, query = {"autoDelete", "deviceName"},
                            required = {"autoDelete", "deviceName"}},
    set_machine_type = {verb = "POST", path = Z .. "instances/{instance}/setMachineType",
                        body = true, mutation = true},
    set_labels = {verb = "POST", path = Z .. "instances/{instance}/setLabels", body = true,
                  mutation = true, aliases = {resource = "instance"}},
  },
  disk_types = {
    list = {verb = "GET", path = Z .. "diskTypes", query = list_query, pages = true},
    get = {verb = "GET", path = Z .. "diskTypes/{diskType}"},
  },
  machine_types = {
    list = {verb = "GET", path = Z .. "machineTypes", query = list_query, pages = true},
    get = {verb = "GET", path = Z .. "machineTypes/{machineType}"},
  },
  zones = {
    list = {verb = "GET", path = "projects/{project}/zones", query = list_query,
            pages = true},
    get = {verb = "GET", path = "projects/{project}/zones/{zone}"},
  },
  zone_operations = {
    list = {verb = "GET", path = Z .. "operations", query = list_query, pages = true},
    get = {verb = "GET", path = Z .. "operations/{operation}", poll = true},
    wait = {verb = "POST", path = Z .. "operations/{operation}/wait", poll = true,
            long_poll = true},
  },
  global_operations = {
    get = {verb = "GET", path = G .. "operations/{operation}", poll = true},
    wait = {verb = "POST", path = G .. "operations/{operation}/wait", poll = true,
            long_poll = true},
  },
  region_operations = {
    get = {verb = "GET", path = "projects/{project}/regions/{region}/operations/{operation}",
           poll = true},
    wait = {verb = "POST",
            path = "projects/{project}/regions/{region}/operations/{operation}/wait",
            poll = true, long_poll = true},
  },
}
