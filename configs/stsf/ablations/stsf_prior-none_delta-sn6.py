# Table VII "w/o PGFFM" (no prior): the same model as Table V "STSF-Net-V2".
_base_ = ['./stsf_fim-gsfm_delta-sn6.py']
