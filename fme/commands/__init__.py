"""Every `fme` sub-command's handlers: parse, call the library, print."""
