"""The ConvRNN family (recurrence and feedback lecture): BL/BLT recurrent CNNs (``blt``), gated
ConvRNNs (``convrnn``, cells in ``cells``) and the ConvLSTM feedback network (``feedback``), all
"anytime" classifiers read out at every time step (``base.AnytimeClassifier``). Nothing is
imported here, so that the registry reads ``presets`` without importing Keras."""
