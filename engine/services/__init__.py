"""The engine's services, composed by :class:`engine.engine.Engine`.

Each is a class built with the peers it needs as constructor arguments, never reaching one through a
shared object:

    events      Events(state)                                     the event stream
    records     ContainerRecords(state, paths)                    container lookup and runtime state
    images      Images(state, paths, blobs, events, records, …)   image verbs, import/save/load, build
    volumes     Volumes(state, paths, events)
    networks    Networks(state, paths, events, records)
    registry    Registry(state, paths, blobs, images, events)     pull, push, login, logout
    containers  Containers(state, paths, records, images, networks, volumes, events)
    system      System(state, paths, records, images, containers, networks, events)
                                                                  version, info, check, crash recovery
"""
