"""``python -m debugbundle``: one tarball with what it takes to debug a thumbnailer installation
(see :mod:`debugbundle.bundle`). A command-line tool for operators, not part of any image."""
