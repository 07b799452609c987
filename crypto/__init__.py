"""Passavant's cryptography core (Qt-free): X.509 identities and CMS messages.

Public modules: :mod:`crypto.pki` (CA, certificates and revocation lists, RSA and EC keys, key
files, validation), :mod:`crypto.cms` (sign, verify, encrypt, decrypt, seal, open_sealed) and
:mod:`crypto.errors` (exceptions with stable ``code`` attributes); also :mod:`crypto.pkcs12`,
:mod:`crypto.audit` (its hash chain and verification in :mod:`crypto.auditchain`) and
:mod:`crypto.passphrase` (the policy for new passphrases). Modules whose name starts with an
underscore are internal.
"""
