"""Sharing images: the OCI distribution protocol, spoken to real registries.

    credentials.py   docker's ``config.json`` (``auths``, ``credsStore``, ``credHelpers``) and the
                     ``docker-credential-<name>`` protocol
    client.py        one registry endpoint: transport (HTTPS with system CAs + ``certs.d``, plain HTTP
                     only for loopback and insecure registries), ping, basic auth, bearer tokens per scope
    distribution.py  pull (manifest lists, parallel verified layer downloads, gzip / zstd) and push
                     (HEAD, cross-repository mount, monolithic / chunked / resumed uploads, manifests)

The engine's half (``pull`` / ``push`` / ``login`` / ``logout``) is the registry service,
:mod:`engine.services.registry`. The network and blob work runs in threads (``http.client`` blocks);
the store is only touched on the caller's side, so a build thread with its own engine can pull too.
"""
