"""TPSMM (Thin-Plate Spline Motion Model), and its MEGC2022 AU entry `tpsmm-au`."""
