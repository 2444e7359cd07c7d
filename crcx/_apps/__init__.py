"""What is built on the filters: image files (``io``), collections of files
(``collection``), self-tuning without a clean image (``tuning``) and the command line
(``cli``)."""
