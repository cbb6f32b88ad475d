"""Training: the loop, the losses, MRAA's and TPSMM's AVD stage."""
