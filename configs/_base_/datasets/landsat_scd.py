# Landsat-SCD (416^2); convert labels first: python tools/dataset_converters/landsat_scd.py data/Landsat-SCD
_base_ = './second.py'
dataset_type = 'LandsatSCDDataset'
data_root = 'data/Landsat-SCD'
data_preprocessor = dict(
    mean=[[141.53, 139.20, 137.73], [137.36, 136.50, 135.14]],
    std=[[81.99, 83.31, 83.89], [85.97, 86.01, 86.81]])
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                     ann_file='train_list.txt'))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                   ann_file='val_list.txt'))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                    ann_file='test_list.txt'))
